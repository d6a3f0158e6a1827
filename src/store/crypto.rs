//! Credentials encryption: the master keyring and AEAD sealing of connection secrets.
