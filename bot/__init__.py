"""GridSec channels, gateways, NLU components and the operator CLI."""
