import sys

from gracewire_sdk.build import main

sys.exit(main())
