"""Reads of the marketplace: functions returning QuerySets."""
