-- AlterTable
ALTER TABLE "agreement" ADD COLUMN     "linger_ms" BIGINT NOT NULL DEFAULT 0;

-- AlterTable
ALTER TABLE "live_lock" ADD COLUMN     "released_at" TIMESTAMPTZ(3),
ADD COLUMN     "support_issued_by" TEXT,
ADD COLUMN     "support_key" TEXT,
ADD COLUMN     "support_overdraft" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "support_reason" TEXT,
ADD COLUMN     "support_until" TIMESTAMPTZ(3);
