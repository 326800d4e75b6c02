import sys

from kerascope.cli import main

sys.exit(main())
