"""HTTP controllers: thin, one per resource, each handler handing off to the service."""
