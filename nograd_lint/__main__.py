import sys

from nograd_lint.cli import main

sys.exit(main())
