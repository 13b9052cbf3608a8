import { afterEach, vi } from 'vitest';
import { cleanup, configure } from '@testing-library/react';

// CI shares two cores with the Rust build and the stores: wait up to 5 s, not 1.
configure({ asyncUtilTimeout: 5_000 });

// The API client captures `fetch` when it is created, so the mock is in place before any
// test file imports it; each test gives it the answers it needs.
export const fetchMock = vi.fn<typeof fetch>();
globalThis.fetch = fetchMock;

afterEach(() => {
  cleanup();
  localStorage.clear();
  fetchMock.mockReset();
});
