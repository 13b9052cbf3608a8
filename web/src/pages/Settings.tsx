import { useState } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useNavigate } from 'react-router';
import { client, fetchBody, type UpdateUser, type User } from '../api/client';
import { keys } from '../api/queries';
import { useAuth } from '../auth/auth';
import { ErrorMessages } from '../components/ErrorMessages';
import { Field } from '../components/Field';

function SettingsForm({ user }: { user: User }) {
  const auth = useAuth();
  const navigate = useNavigate();
  const qc = useQueryClient();
  const [image, setImage] = useState(user.image ?? '');
  const [username, setUsername] = useState(user.username);
  const [bio, setBio] = useState(user.bio ?? '');
  const [email, setEmail] = useState(user.email);
  const [password, setPassword] = useState('');

  const save = useMutation({
    mutationFn: async () => {
      const change: UpdateUser = { image, bio };
      if (username !== user.username) change.username = username;
      if (email !== user.email) change.email = email;
      if (password) change.password = password;
      return (await fetchBody(client.PUT('/api/user', { body: { user: change } }))).user;
    },
    onSuccess: (updated) => {
      auth.signIn({ ...updated, token: updated.token || user.token });
      void qc.invalidateQueries({ queryKey: keys.profiles });
      void qc.invalidateQueries({ queryKey: keys.lists });
      navigate(`/profile/${encodeURIComponent(updated.username)}`);
    },
  });

  return (
    <>
      <ErrorMessages error={save.error} />
      <form
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          save.mutate();
        }}
      >
        <fieldset disabled={save.isPending}>
          <Field id="image" label="Profile picture (URL)" type="url" placeholder="URL of profile picture" value={image} onChange={setImage} />
          <Field id="username" label="Username" className="form-control form-control-lg" type="text" placeholder="Your Name" autoComplete="username" value={username} onChange={setUsername} />
          <Field id="bio" label="Bio" className="form-control form-control-lg" rows={8} placeholder="Short bio about you" value={bio} onChange={setBio} />
          <Field id="email" label="Email" className="form-control form-control-lg" type="email" placeholder="Email" autoComplete="email" value={email} onChange={setEmail} />
          <Field id="password" label="New password" className="form-control form-control-lg" type="password" placeholder="New Password" autoComplete="new-password" value={password} onChange={setPassword} />
          <button className="btn btn-lg btn-primary pull-xs-right" type="submit">
            {save.isPending ? 'Saving...' : 'Update Settings'}
          </button>
        </fieldset>
      </form>
    </>
  );
}

export default function Settings() {
  const auth = useAuth();
  const navigate = useNavigate();
  if (!auth.user) return null;
  return (
    <div className="settings-page">
      <div className="container page">
        <div className="row">
          <div className="col-md-6 offset-md-3 col-xs-12">
            <h1 className="text-xs-center">Your Settings</h1>
            <SettingsForm user={auth.user} />
            <hr />
            <button
              type="button"
              className="btn btn-outline-danger"
              onClick={() => {
                auth.signOut();
                navigate('/');
              }}
            >
              Or click here to logout.
            </button>
          </div>
        </div>
      </div>
    </div>
  );
}
