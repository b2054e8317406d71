"""GridSec rasa-sdk actions, split by journey; each stays thin and calls routing/ and storage/."""

import os

from bot.log_redaction import protect_environment

# rasa-sdk imports this package when the action server starts (`rasa run actions` is not `gridsec`): keep the
# configured secrets and residents' personal data out of its logs, as every gridsec process does.
protect_environment(os.environ)
