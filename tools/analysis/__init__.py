"""Analysis tools; ``golden`` holds the checks against the reference-code golden files."""
