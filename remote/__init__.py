"""The control socket of a headless engine: its JSON-lines codec, the server on the engine's
loop, and the client an attached cockpit or a CLI command uses."""
