"""The web dashboard: live market view, history, SQL explorer and lake catalog."""
