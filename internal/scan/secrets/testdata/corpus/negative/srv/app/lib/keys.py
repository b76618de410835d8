def is_pem(line):
    return line.startswith("-----BEGIN RSA PRIVATE KEY-----")

DOC = """
-----BEGIN PRIVATE KEY-----
...
-----END PRIVATE KEY-----
"""
PUBLIC = """-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo
-----END PUBLIC KEY-----"""
