"""Toolkits shipped with agentspec, and the tool registry they share."""
