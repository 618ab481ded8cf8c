-- Signing keys' private halves encrypted at rest (src/signing/envelope.ts):
-- private_sealed is the PKCS#8 key sealed (AES-256-GCM) under a per-key data
-- key; wrapped_dek is that data key wrapped under the key-encryption key
-- kek_id from configuration (ADMISSION_SIGNING_KEKS, TICKET_SIGNING_KEKS).
-- private_pem stays only for rows written before this migration: the process
-- that signs a purpose seals them when its ring starts and clears the column.

ALTER TABLE signing_keys
  MODIFY private_pem TEXT NULL,
  ADD COLUMN kek_id VARCHAR(64) NULL,
  ADD COLUMN wrapped_dek VARBINARY(64) NULL,
  ADD COLUMN private_sealed VARBINARY(512) NULL;
