import { Link } from 'react-router';

export default function NotFound() {
  return (
    <div className="container page not-found">
      <h1>Page not found</h1>
      <p>
        There is nothing at this address. <Link to="/">Go to the home page</Link>.
      </p>
    </div>
  );
}
