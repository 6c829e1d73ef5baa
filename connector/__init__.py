"""influxdb-connector: InfluxDB measurements -> ML-ready CSV files, streamed.

    from connector import export
    summary = export(url="http://localhost:8086", token="...", org="my-org",
                     bucket="telemetry", measurement="machine", time_col="timestamp",
                     range_start="-7d", local_dir="data")
"""
from .errors import (ConnectorError, DataError, OutputError, ParameterError, ServerRefused,
                     ServerUnavailable)
from .export import ExportSummary, export, read_dataframe, run

__all__ = [
    "export", "read_dataframe", "run", "ExportSummary", "ConnectorError", "ParameterError", "ServerRefused",
    "ServerUnavailable", "DataError", "OutputError",
]
