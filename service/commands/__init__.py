"""ChatOps commands in pull-request comments: the grammar and who may run what."""
