-- The Ed25519 key ring shared by every API instance: the newest key of a
-- purpose signs; earlier keys keep verifying until retire_at (set when a newer
-- key takes over: the rotation time plus the longest token lifetime).
-- private_pem is PKCS#8; in production wrap it with a KMS or restrict the
-- table's grants (see src/signing/key-ring.ts).

CREATE TABLE signing_keys (
  kid VARCHAR(64) NOT NULL,
  purpose VARCHAR(32) NOT NULL,
  alg VARCHAR(16) NOT NULL,
  public_x VARCHAR(64) NOT NULL,
  private_pem TEXT NOT NULL,
  created_at DATETIME(3) NOT NULL,
  retire_at DATETIME(3) NULL,
  PRIMARY KEY (kid),
  KEY ix_signing_keys_purpose (purpose, created_at)
);
