"""Test and demo support: real InfluxDB 1.x servers and deterministic sample data."""
