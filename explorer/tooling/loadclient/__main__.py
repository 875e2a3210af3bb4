"""`python -m explorer.tooling.loadclient --url ... --sessions N --seconds S`."""
import sys

from explorer.tooling.loadclient import main

sys.exit(main())
