import sys

from l7lb.cli import main

sys.exit(main())
