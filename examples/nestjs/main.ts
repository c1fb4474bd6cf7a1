// NestJS on Express with prom-multiproc's request metrics. Nest registers its controllers'
// routes on Express, so expressMetrics labels each request with the full pattern: global
// prefix, controller path and method path (`/api/tenants/:tenantId/orders/:orderId`).
//
//   PROM_MULTIPROC_DIR=/run/myapp/metrics TSX_TSCONFIG_PATH=examples/nestjs/tsconfig.json \
//     node --import tsx examples/nestjs/main.ts
//
// (The tsconfig turns on the decorators Nest uses.) In your app, import from 'prom-multiproc'.
import 'reflect-metadata';
import { Controller, Get, Module, NotFoundException, Param } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { Express } from 'express';
import type { AddressInfo } from 'node:net';
import { expressMetrics, metricsEndpoint } from '../../packages/prom-multiproc/src/index.js';

@Controller('tenants/:tenantId/orders')
class OrdersController {
  @Get(':orderId')
  find(@Param('orderId') orderId: string): { orderId: string } {
    if (orderId === 'missing') throw new NotFoundException(`no order ${orderId}`);
    return { orderId };
  }
}

@Controller('health')
class HealthController {
  @Get()
  check(): string {
    return 'ok';
  }
}

@Module({ controllers: [OrdersController, HealthController] })
class AppModule {}

const app = await NestFactory.create<NestExpressApplication>(AppModule, { logger: ['error'] });
// Before Nest adds its routes (at listen), so that every request passes through it.
app.use(expressMetrics({ excludeRoutes: ['/metrics', '/api/health'] }));
app.setGlobalPrefix('api');
// /metrics outside Nest's prefix and pipeline: a plain Express route on the same server.
const endpoint = metricsEndpoint();
(app.getHttpAdapter().getInstance() as Express).get('/metrics', (req, res) => endpoint.handle(req, res));
app.enableShutdownHooks();

await app.listen(Number(process.env.PORT ?? 3000), process.env.HOST ?? '127.0.0.1');
const { port } = app.getHttpServer().address() as AddressInfo;
console.log(JSON.stringify({ listening: port }));
