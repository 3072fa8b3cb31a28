import { Controller, Get, HttpException, Query } from '@nestjs/common';
import type { z } from 'zod';
import { gatewaysQuery, QueryService, toRange, usageQuery, rangeQuery } from './query.service';
import { openApiDocument } from './openapi';

function parse<T extends z.ZodType>(schema: T, query: unknown): z.infer<T> {
  const result = schema.safeParse(query);
  if (!result.success) {
    const message = result.error.issues.map((i) => `${i.path.join('.') || 'query'}: ${i.message}`).join('; ');
    throw new HttpException({ error: 400, message }, 400);
  }
  return result.data;
}

@Controller()
export class QueryController {
  constructor(private readonly queries: QueryService) {}

  @Get('openapi.json')
  openapi(): unknown {
    return openApiDocument;
  }

  @Get('v1/usage')
  usage(@Query() query: unknown): Promise<unknown> {
    const q = parse(usageQuery, query);
    return this.queries.usage(toRange(q), q.group_by);
  }

  @Get('v1/latency')
  latency(@Query() query: unknown): Promise<unknown> {
    return this.queries.latency(toRange(parse(rangeQuery, query)));
  }

  @Get('v1/gateways')
  gateways(@Query() query: unknown): Promise<unknown> {
    const q = parse(gatewaysQuery, query);
    return this.queries.gateways(toRange(q), q.limit);
  }
}
