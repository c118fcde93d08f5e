"""Ready-made tools for agentkit agents, installed with agentkit as `agentkit_tools`."""

__all__: list[str] = []
