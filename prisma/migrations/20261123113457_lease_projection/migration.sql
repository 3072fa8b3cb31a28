-- CreateEnum
CREATE TYPE "agreement_status" AS ENUM ('open', 'closed');

-- CreateEnum
CREATE TYPE "gateway_key_status" AS ENUM ('bound', 'revoked');

-- CreateTable
CREATE TABLE "agreement" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "licenses" INTEGER NOT NULL,
    "min_period_ms" BIGINT NOT NULL,
    "max_period_ms" BIGINT NOT NULL,
    "default_period_ms" BIGINT NOT NULL,
    "status" "agreement_status" NOT NULL,
    "opened_at" TIMESTAMPTZ(3) NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "agreement_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "gateway_key" (
    "agreement_id" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "status" "gateway_key_status" NOT NULL,
    "bound_at" TIMESTAMPTZ(3) NOT NULL,
    "revoked_at" TIMESTAMPTZ(3),

    CONSTRAINT "gateway_key_pkey" PRIMARY KEY ("agreement_id","key")
);

-- CreateTable
CREATE TABLE "live_lock" (
    "agreement_id" TEXT NOT NULL,
    "config_hash" TEXT NOT NULL,
    "granted_at" TIMESTAMPTZ(3) NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "live_lock_pkey" PRIMARY KEY ("agreement_id","config_hash")
);

-- CreateTable
CREATE TABLE "lock_holder" (
    "agreement_id" TEXT NOT NULL,
    "config_hash" TEXT NOT NULL,
    "session_id" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "hostname" TEXT NOT NULL,
    "process_id" INTEGER NOT NULL,
    "joined_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "lock_holder_pkey" PRIMARY KEY ("agreement_id","config_hash","session_id","key","hostname","process_id")
);

-- CreateTable
CREATE TABLE "ledger_event" (
    "partition" INTEGER NOT NULL,
    "offset" BIGINT NOT NULL,
    "type" TEXT NOT NULL,
    "agreement_id" TEXT NOT NULL,
    "request_id" TEXT NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL,
    "payload" JSONB NOT NULL,

    CONSTRAINT "ledger_event_pkey" PRIMARY KEY ("partition","offset")
);

-- CreateIndex
CREATE INDEX "gateway_key_key_idx" ON "gateway_key"("key");

-- CreateIndex
CREATE INDEX "live_lock_expires_at_idx" ON "live_lock"("expires_at");

-- CreateIndex
CREATE INDEX "ledger_event_agreement_id_at_idx" ON "ledger_event"("agreement_id", "at");

-- CreateIndex
CREATE INDEX "ledger_event_request_id_idx" ON "ledger_event"("request_id");

-- AddForeignKey
ALTER TABLE "lock_holder" ADD CONSTRAINT "lock_holder_agreement_id_config_hash_fkey" FOREIGN KEY ("agreement_id", "config_hash") REFERENCES "live_lock"("agreement_id", "config_hash") ON DELETE CASCADE ON UPDATE CASCADE;
