-- CreateTable
CREATE TABLE "usage_history_offset" (
    "topic" TEXT NOT NULL,
    "partition" INTEGER NOT NULL,
    "next_offset" BIGINT NOT NULL,

    CONSTRAINT "usage_history_offset_pkey" PRIMARY KEY ("topic","partition")
);

-- CreateTable
CREATE TABLE "usage_history_agreement" (
    "agreement_id" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "licenses" BIGINT NOT NULL,
    "opened_at" TIMESTAMPTZ(3) NOT NULL,
    "last_event_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "usage_history_agreement_pkey" PRIMARY KEY ("agreement_id")
);

-- CreateTable
CREATE TABLE "usage_history_lock" (
    "agreement_id" TEXT NOT NULL,
    "config_hash" TEXT NOT NULL,
    "expires_at_ms" BIGINT NOT NULL,

    CONSTRAINT "usage_history_lock_pkey" PRIMARY KEY ("agreement_id","config_hash")
);

-- CreateTable
CREATE TABLE "usage_history_hourly" (
    "agreement_id" TEXT NOT NULL,
    "hour" TIMESTAMPTZ(3) NOT NULL,
    "peak_locks" INTEGER NOT NULL,
    "licenses" BIGINT NOT NULL,
    "licenses_at_end" BIGINT NOT NULL,
    "denials" BIGINT NOT NULL,

    CONSTRAINT "usage_history_hourly_pkey" PRIMARY KEY ("agreement_id","hour")
);

-- CreateIndex
CREATE INDEX "usage_history_hourly_hour_idx" ON "usage_history_hourly"("hour");
