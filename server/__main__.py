"""`python -m server`: run the racer server in the foreground."""

import sys

from .main import main

sys.exit(main())
