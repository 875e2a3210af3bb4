"""`python -m explorer`: the product's CLI, and `bench`, the developer tooling beside it."""
import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:  # tooling stays apart from the product: only this entry point reaches it
        from explorer.tooling.bench import main as bench
        return bench(argv[1:])
    from explorer.cli import main as cli
    return cli(argv)


if __name__ == "__main__":
    sys.exit(main())
