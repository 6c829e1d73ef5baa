"""cnvrg entry point: python3 influxdb_connector.py --key value ... (see library.yaml)."""
import sys

from connector.cli import main

if __name__ == "__main__":
    sys.exit(main())
