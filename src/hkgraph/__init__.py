"""hkgraph: the linked-data knowledge graph of Hong Kong's innovation and technology landscape."""

from hkgraph.store import Store, open_graph

__version__ = "0.1.0"
__all__ = ["Store", "open_graph", "__version__"]
