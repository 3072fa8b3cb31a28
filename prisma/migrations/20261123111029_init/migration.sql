-- CreateTable
CREATE TABLE "service_heartbeat" (
    "id" TEXT NOT NULL,
    "service" TEXT NOT NULL,
    "instance_id" TEXT NOT NULL,
    "seen_at" TIMESTAMPTZ(3) NOT NULL,
    "payload" BYTEA,

    CONSTRAINT "service_heartbeat_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "service_heartbeat_service_seen_at_idx" ON "service_heartbeat"("service", "seen_at");
