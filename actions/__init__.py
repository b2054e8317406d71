"""GridSec rasa-sdk actions, split by journey; each stays thin and calls routing/ and storage/."""
