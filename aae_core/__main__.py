"""`python -m aae_core ...`"""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
