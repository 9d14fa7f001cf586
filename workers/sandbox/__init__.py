"""Running pull-request code confined: its own user, namespaces and nothing it does not need.

Everything from the pinned commit is untrusted (DESIGN.md, Trust): the functions' tests, the
functions themselves, any tool run on the checkout. `policy` says what a confined command
gets; `bubblewrap` builds the confinement; `runner` runs a command inside it.
"""
