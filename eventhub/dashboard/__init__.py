"""The operator's dashboard: live timeline, dead letters, spans (staff only)."""
