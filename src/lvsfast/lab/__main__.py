import sys

from lvsfast.lab.run import main

sys.exit(main())
