"""`python -m explorer.tooling.bench`: the same as `python -m explorer bench`."""
import sys

from explorer.tooling.bench import main

sys.exit(main())
