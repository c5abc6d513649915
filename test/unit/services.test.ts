import { describe, expect, it } from 'vitest';
import { FakeClock } from '#shared/clock';
import { clockService, defineService, ServiceContainer } from '#shared/services';

describe('step services', () => {
  it('a service is built once, on first use, from its default factory; provide overrides it; a child falls back to its parent', () => {
    let built = 0;
    const counter = defineService('counter', () => ({ id: ++built }));
    const root = new ServiceContainer();
    expect(built).toBe(0);
    expect(root.get(counter)).toBe(root.get(counter));
    expect(built).toBe(1);
    const child = new ServiceContainer(root).provide(clockService, new FakeClock(5));
    expect(child.get(counter)).toBe(root.get(counter));
    expect(child.get(clockService).now()).toBe(5);
    expect(new ServiceContainer().provide(counter, { id: 99 }).get(counter)).toEqual({ id: 99 });
  });
});
