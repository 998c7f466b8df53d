"""The scenario: its schema, the file and its messages, units, and the GPU and price catalog."""
