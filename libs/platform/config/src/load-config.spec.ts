import { ConfigError, env, loadConfig } from './load-config';

describe('loadConfig', () => {
  const shape = { PORT: env.port(3000), KAFKA_BROKERS: env.brokers(), DATABASE_URL: env.postgresUrl() };

  it('parses a valid environment', () => {
    const config = loadConfig(shape, {
      KAFKA_BROKERS: '127.0.0.1:9092, 127.0.0.1:9093',
      DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/db',
    });
    expect(config).toEqual({
      PORT: 3000,
      KAFKA_BROKERS: ['127.0.0.1:9092', '127.0.0.1:9093'],
      DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/db',
    });
  });

  it('names every missing or bad variable', () => {
    expect.assertions(4);
    try {
      loadConfig(shape, { PORT: 'eighty', KAFKA_BROKERS: 'nohostport', DATABASE_URL: '' });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const message = (error as ConfigError).message;
      expect(message).toContain('PORT="eighty" is invalid');
      expect(message).toContain('KAFKA_BROKERS="nohostport" is invalid');
      expect(message).toContain('DATABASE_URL is required but not set');
    }
  });
});
