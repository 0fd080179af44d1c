"""`python -m unseen.examples` lists the example files; `... NAME` prints one to stdout."""

from __future__ import annotations

import sys

from unseen.errors import InputError
from unseen.examples import names, text


def main(argv: list[str]) -> int:
    if not argv:
        print("\n".join(names()))
        return 0
    try:
        sys.stdout.write(text(argv[0]))
    except InputError as exc:
        print(f"unseen: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
