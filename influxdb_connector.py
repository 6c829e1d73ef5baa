"""cnvrg entry point: python3 influxdb_connector.py --key value ... (see library.yaml)."""
import os
import sys

# numpy's OpenBLAS starts a thread per core that spins while idle; the connector does no
# linear algebra, so one thread is all it needs (set before numpy is first imported).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from connector.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
