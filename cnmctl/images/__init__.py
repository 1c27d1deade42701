"""Images: root filesystem tarballs imported into the store (`cnmctl import`).

reference.py is Docker's image reference grammar, unpack.py unpacks a tarball
as hostile input, changes.py reads `import -c` Dockerfile instructions, and
views.py gives Docker's `images` rows and `image inspect` documents. The
engine's transactions around them are in engine/images.py.
"""
