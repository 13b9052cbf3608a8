import { render, screen } from '@testing-library/react';
import { MemoryRouter } from 'react-router';
import { Pagination } from './ArticleList';

describe('Pagination', () => {
  it('links every page and marks the current one active', () => {
    render(
      <MemoryRouter>
        <Pagination pages={3} current={2} href={(n) => `/tag/rust?page=${n}`} />
      </MemoryRouter>,
    );
    const links = screen.getAllByRole('link');
    expect(links.map((a) => a.getAttribute('href'))).toEqual(['/tag/rust?page=1', '/tag/rust?page=2', '/tag/rust?page=3']);
    expect(links[1]?.closest('.page-item')?.classList.contains('active')).toBe(true);
    expect(links[0]?.closest('.page-item')?.classList.contains('active')).toBe(false);
  });

  it('shows the first, the last and the pages around the current one of many', () => {
    render(
      <MemoryRouter>
        <Pagination pages={40} current={20} href={(n) => `/?page=${n}`} />
      </MemoryRouter>,
    );
    expect(screen.getAllByRole('link').map((a) => a.textContent)).toEqual(['1', '18', '19', '20', '21', '22', '40']);
  });
});
