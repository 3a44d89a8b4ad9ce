"""agentspec: specialized, tool-using LLM agents that run locally."""
__version__ = "0.1.0"
__all__ = ["__version__"]
