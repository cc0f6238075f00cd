"""The Socket.IO side: the server, its event handlers per audience, the presence
store (memory or Redis, behind one interface) and the lease sweep."""
