"""The command-centre web console and its JSON API (:8000)."""
