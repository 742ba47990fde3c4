"""``python -m chroma_frame``: the ``chroma-frame`` command line."""

import sys

from chroma_frame.cli import main

if __name__ == "__main__":
    sys.exit(main())
