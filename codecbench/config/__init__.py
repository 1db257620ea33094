"""The config: its schema and validation, the plan of points and variants it asks for, and its plug-ins."""
