"""Value types and pure logic: no I/O, no platform, no SQL."""
