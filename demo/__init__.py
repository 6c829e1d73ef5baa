"""End-to-end demo: sample telemetry in a real InfluxDB 1.x, exported by the connector CLI."""
